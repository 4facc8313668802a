package faults

func transportKinds() []Kind { return nil }
