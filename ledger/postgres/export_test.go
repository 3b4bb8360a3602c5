package postgres

// SmallCopyBatches makes one COPY carry n rows, so that a few rows cross
// the batch boundary; it returns the function restoring the size. A test
// calling it must not run in parallel.
func SmallCopyBatches(n int) (restore func()) {
	b := copyBatch
	copyBatch = n
	return func() { copyBatch = b }
}
