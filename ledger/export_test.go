package ledger

// SmallImportBatches makes an import's batches (rows looked up, rows
// posted, lines reconciled at once) tiny, so that a small file crosses
// every batch boundary; it returns the function restoring them. A test
// calling it must not run in parallel.
func SmallImportBatches() (restore func()) {
	b, p, r := importBatch, postChunk, reconcilePage
	importBatch, postChunk, reconcilePage = 3, 4, 5
	return func() { importBatch, postChunk, reconcilePage = b, p, r }
}
