package ledger

// SmallImportBatches makes an import's batches (rows looked up, parents
// and rows posted at once) tiny, so that a small file crosses
// every batch boundary; it returns the function restoring them. A test
// calling it must not run in parallel.
func SmallImportBatches() (restore func()) {
	b, p := importBatch, postChunk
	importBatch, postChunk = 3, 4
	return func() { importBatch, postChunk = b, p }
}
