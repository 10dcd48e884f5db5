package guestimage

import (
	"bytes"
	"strings"
)

// kernelConfig looks up a symbol in a kernel .config: "CONFIG_X=value", or
// absent for "# CONFIG_X is not set". Quotes around strings are removed.
func kernelConfig(cfg []byte, symbol string) (string, bool) {
	prefix := symbol + "="
	for _, line := range bytes.Split(cfg, []byte("\n")) {
		if v, ok := bytes.CutPrefix(bytes.TrimSpace(line), []byte(prefix)); ok {
			return strings.Trim(string(v), `"`), true
		}
	}
	return "", false
}
