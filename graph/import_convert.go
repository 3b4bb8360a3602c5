package graph

import (
	"context"

	"github.com/paysplit/paysplit/graph/model"
	"github.com/paysplit/paysplit/ledger"
)

// toLedgerImportRequest converts an importBalances input. A file larger than
// the upload limit is refused before it is read.
func toLedgerImportRequest(ctx context.Context, in model.ImportBalancesInput) (ledger.ImportRequest, error) {
	limit := uploadLimit(ctx)
	if in.File.Size > limit {
		return ledger.ImportRequest{}, ledger.Invalid("file", "is %d bytes; the limit is %d bytes", in.File.Size, limit)
	}
	r := ledger.ImportRequest{File: in.File.File, FileName: in.File.Filename, MaxBytes: limit, Mode: in.Mode,
		IdempotencyKey: str(in.IdempotencyKey)}
	if o := in.Options; o != nil {
		r.Options = ledger.ImportOptions{CreateMissingPatients: flag(o.CreateMissingPatients),
			EncounterPerProviderLocation: flag(o.EncounterPerProviderLocation), Delimiter: str(o.Delimiter),
			DefaultProvider: str(o.DefaultProvider), DefaultLocation: str(o.DefaultLocation)}
	}
	return r, nil
}

// announceReconciliation announces the patients and guarantors of
// reconciliation lines, so that their fields load together.
func announceReconciliation(ctx context.Context, lines []ledger.ReconciliationLine) {
	site, ls := placeOf(ctx).site, loadersFor(ctx)
	for _, l := range lines {
		ls.patient.expect(site, opt(l.PatientID)...)
		ls.guarantor.expect(site, l.GuarantorID)
	}
}
