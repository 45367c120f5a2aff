package backup

// SetOnProgress makes f see the bytes of every dump as they are sent; an error from
// f stops the dump as a crash would.
func SetOnProgress(a *Activities, f func(int64) error) { a.onProgress = f }

// DumpsStarted is how many pg_dump runs a started. A function, not a method: every
// method of Activities is registered as an activity.
func DumpsStarted(a *Activities) int64 { return a.dumps.Load() }
