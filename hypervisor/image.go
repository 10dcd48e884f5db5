package hypervisor

import (
	"fmt"
	"os"
)

// BootImage is the guest image a VM boots: kernel, initramfs and where they
// came from. hypervisor/guestimage builds it; this package only needs paths.
type BootImage struct {
	Dir string
	// Kernel is what the fast profile boots: the uncompressed vmlinux when
	// the kernel supports PVH, else the bzImage.
	Kernel string
	// BzImage is the compressed kernel the stock profile boots.
	BzImage   string
	Initramfs string
	PVH       bool
	Release   string
}

// Check verifies the image files exist.
func (im BootImage) Check() error {
	for _, p := range []string{im.Kernel, im.BzImage, im.Initramfs} {
		if p == "" {
			return fmt.Errorf("%w: guest image is incomplete; run `vmctl image build`", ErrInvalidSpec)
		}
		if _, err := os.Stat(p); err != nil {
			return fmt.Errorf("%w: guest image file %s: %v; run `vmctl image build`", ErrInvalidSpec, p, err)
		}
	}
	return nil
}
