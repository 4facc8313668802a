package faults

func appKinds() []Kind { return nil }
