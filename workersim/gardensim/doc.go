// Package gardensim provides a Garden API simulator for tests and demos, shaped like
// httptest.Server. It answers as one of Concourse's runtimes does (runtimes.Profile:
// containerd by default, Guardian, houdini): unknown handles, duplicate handles, filter keys and
// how several are combined, grace time, rootfs rules, the container limit, the create and
// destroy queues, process runs on a hijacked connection. Its Behaviour adds Garden's grace-time
// reaper race, a wedged runtime, a stuck destroy and process faults; Timings sets how long each
// create and destroy works; a Load keeps creates and destroys in flight from inside, as a busy
// worker's builds do; faults can be injected per route. It keeps containers in memory and
// executes nothing: a process "runs" when its path is an executable file in the rootfs, and
// exits 0.
package gardensim
