// Package sandbox builds and tears down labs: named network namespaces (one
// per host, one private to the lab for its bridges), veth pairs created with
// each end already in its namespace, bridges, vxlan devices, addresses,
// routes, sysctls, per-host /etc files, and processes run inside hosts.
//
// It is the only package that switches a thread's namespace (Netns.Do and
// EnterMain), makes namespaces or locks OS threads (KeepMainThread);
// TestOnlySandboxSwitchesNamespaces fails the build when another does. It never creates anything in the machine's own network
// namespace, records every object before creating it, and removes only what
// it recorded.
package sandbox
