// Package gardensim provides a Garden API simulator for tests and demos, shaped like
// httptest.Server. It answers as one of Concourse's runtimes does (runtimes.Profile:
// containerd by default, Guardian, houdini): unknown handles, duplicate handles, filter keys,
// grace time, rootfs rules, the container limit, process runs on a hijacked connection. Its
// Behaviour adds Garden's grace-time reaper race and process faults; faults can be injected per
// route. It keeps containers in memory and executes nothing: a process "runs" when its path is
// an executable file in the rootfs, and exits 0.
package gardensim
