package guestimage

import "errors"

var (
	// ErrNoImage means no usable image is in the cache; the fix is to run
	// `vmctl image build`.
	ErrNoImage = errors.New("no guest image")
	// ErrInvalidOptions wraps every problem Options.Validate finds.
	ErrInvalidOptions = errors.New("invalid guest image options")
	// ErrNotStatic means a binary needs a dynamic loader, which the
	// initramfs does not have.
	ErrNotStatic = errors.New("binary is not statically linked")
	// ErrModuleNotFound means a wanted module, or one it depends on, is
	// neither in the kernel package nor built into the kernel.
	ErrModuleNotFound = errors.New("kernel module not found")
	// ErrDependencyCycle means the modules' depends= fields form a loop.
	ErrDependencyCycle = errors.New("kernel module dependency cycle")
	// ErrUnsupportedCompression means a .deb member, a module or the
	// kernel payload uses a compression this package cannot read.
	ErrUnsupportedCompression = errors.New("unsupported compression")
	// ErrBadKernelPackage means the .deb is not a usable kernel package.
	ErrBadKernelPackage = errors.New("bad kernel package")
	// ErrKernelConfig means the minimal kernel's configuration is not what
	// kernel/minimal.config asks for: an option did not stick, or the
	// fragment itself is malformed.
	ErrKernelConfig = errors.New("minimal kernel configuration")
	// ErrNotBzImage means the kernel file has no x86 boot setup header.
	ErrNotBzImage = errors.New("not a bzImage")
)
