package faults

func linkKinds() []Kind { return nil }
