// Package simserver runs an API simulator on a real TCP listener, shaped like httptest.Server:
// it starts at once, has a URL, logs every request, and Close returns only when every handler
// and goroutine it started has finished. It must not know either API.
package simserver
