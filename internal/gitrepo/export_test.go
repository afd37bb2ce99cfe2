package gitrepo

// ParseRawDiff exposes parseRawDiff to the fuzzer.
var ParseRawDiff = parseRawDiff
