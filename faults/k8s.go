package faults

func k8sKinds() []Kind { return nil }
