// Package userdocs holds the test that keeps the repository's documentation
// written for its users: READMEs and other Markdown files, Go doc and
// comments, the example configurations and manifests, and the Makefile.
//
// They describe the library and the reference agent/gateway architecture it
// implements. They must not send a reader to files outside the repository
// or to other web sites (a copy here outlives any link), nor refer to how the
// project was built: its planning notes, its issue numbers, or the
// limitations of the machine it was written on. The package has no code;
// its test walks the repository from the module root and names every line
// that breaks a rule, with the rule.
package userdocs
