package chunk

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
)

// badgerLogger routes badger's log lines into slog. Badger is chatty at
// Info level, so its Infof lines go to Debug.
type badgerLogger struct {
	l *slog.Logger
}

func (b badgerLogger) log(level slog.Level, format string, args ...any) {
	if !b.l.Enabled(context.Background(), level) {
		return
	}
	b.l.Log(context.Background(), level, strings.TrimRight(fmt.Sprintf(format, args...), "\n"))
}

func (b badgerLogger) Errorf(format string, args ...any)   { b.log(slog.LevelError, format, args...) }
func (b badgerLogger) Warningf(format string, args ...any) { b.log(slog.LevelWarn, format, args...) }
func (b badgerLogger) Infof(format string, args ...any)    { b.log(slog.LevelDebug, format, args...) }
func (b badgerLogger) Debugf(format string, args ...any)   { b.log(slog.LevelDebug-4, format, args...) }
