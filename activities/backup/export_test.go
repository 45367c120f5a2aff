package backup

// SetOnProgress makes f see the bytes of every dump as they are sent; an error from
// f stops the dump as a crash would.
func (a *Activities) SetOnProgress(f func(int64) error) { a.onProgress = f }
