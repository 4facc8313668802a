// Package scenarios is the scenario file format: the raw YAML types, a
// strict decoder and a checking pass that report every problem at once with
// file:line:col and the field path, the resolution of a checked file into
// the model the sandbox builds (the plan: every service's and fault's
// parameters decoded into its kind's type and checked, once), parameters
// drawn from a seed, the JSON schema, and the built-in library embedded in
// the binary.
//
// It never touches the system: loading a file has no effect but the
// returned value. YAML stays inside it: no yaml.Node reaches the model, and
// hand-typed parameters (ParseParams) go through the same decoder.
package scenarios
