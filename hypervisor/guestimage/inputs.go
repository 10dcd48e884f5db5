package guestimage

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// input is an input file read into memory once, so the bytes hashed are
// the bytes installed even if the file changes during the build.
type input struct {
	InputFile
	data []byte
}

func readInput(path string) (input, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return input{}, err
	}
	data, err := os.ReadFile(abs)
	if err != nil {
		return input{}, err
	}
	sum := sha256.Sum256(data)
	return input{InputFile: InputFile{Path: abs, SHA256: hex.EncodeToString(sum[:]), Size: int64(len(data))}, data: data}, nil
}

// inputs are the checked agent and busybox with busybox's applet list.
type inputs struct {
	agent, busybox input
	applets        []string
}

func (b *builder) readInputs(ctx context.Context) (inputs, error) {
	var in inputs
	var err error
	if in.agent, err = readInput(b.opts.AgentPath); err != nil {
		return in, fmt.Errorf("read agent: %w", err)
	}
	if err := checkAgent(in.agent.Path, in.agent.data); err != nil {
		return in, err
	}
	if in.busybox, err = readInput(b.opts.BusyboxPath); err != nil {
		return in, fmt.Errorf("read busybox: %w", err)
	}
	if err := checkBusybox(in.busybox.Path, in.busybox.data); err != nil {
		return in, err
	}
	if in.applets, err = b.busyboxApplets(ctx, in.busybox.Path); err != nil {
		return in, err
	}
	return in, nil
}

// buildKey identifies an image by everything that determines its content;
// kernelID is kernelRef.id().
func buildKey(kernelID, agentSHA, busyboxSHA string, modules []string) string {
	h := sha256.New()
	fmt.Fprintf(h, "vmctl guestimage\nbuilder %s\n%s\nagent %s\nbusybox %s\nmodules %s\n",
		builderVersion, kernelID, agentSHA, busyboxSHA, strings.Join(modules, ","))
	return hex.EncodeToString(h.Sum(nil))
}

// hashFile returns path's absolute name, size and sha256, reading under ctx.
func hashFile(ctx context.Context, path string) (InputFile, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return InputFile{}, err
	}
	f, err := os.Open(abs)
	if err != nil {
		return InputFile{}, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, ctxReader{ctx, f})
	if err != nil {
		return InputFile{}, err
	}
	return InputFile{Path: abs, SHA256: hex.EncodeToString(h.Sum(nil)), Size: n}, nil
}
