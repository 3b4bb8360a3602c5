package model

// Node is what node(id:) returns: a ledger.Guarantor, ledger.Patient,
// ledger.Encounter, ledger.Charge or ledger.Receipt (graph/relay.graphqls).
type Node interface{}
