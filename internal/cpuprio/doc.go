// Package cpuprio reads and sets the CPU priority (the nice value) of the
// whole process, every thread of it.
//
// A node that only replicates the ledger (a non-voter) does work that no
// quote waits for: applying entries the voters have already committed.
// When many nodes share a machine, as in `dds testnet`, that work competed
// for the cores with the voters' commits and delayed them; run at a lower
// priority, the non-voters give way (see node.Config.NonVoterNice).
package cpuprio
