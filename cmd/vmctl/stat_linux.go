package main

import (
	"os"
	"os/user"
	"strconv"
	"syscall"
)

func statGroup(fi os.FileInfo) string {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return "?"
	}
	gid := strconv.Itoa(int(st.Gid))
	if g, err := user.LookupGroupId(gid); err == nil {
		return g.Name
	}
	return gid
}
