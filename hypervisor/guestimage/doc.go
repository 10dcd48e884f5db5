// Package guestimage builds and caches the guest boot image: a kernel and an
// initramfs holding the vmctl agent as /init, a static busybox and the
// virtio/9p modules the agent loads, if any.
//
// The kernel comes in two flavors (Options.Kernel):
//
//   - debian (the default): Debian's generic linux-image package, its
//     virtio and 9p drivers modules resolved from their depends= and loaded
//     by the agent;
//   - minimal: built from Debian's linux-source-6.1 with `make tinyconfig`
//     plus kernel/minimal.config, everything the guest needs built in and
//     nothing else, so no modules. See kernelbuild.go for the recipe.
//
// Everything is done in Go (no shell pipelines); the only subprocesses are
// apt-cache/apt-get, to find and fetch the kernel package when none is given,
// `busybox --list`, to learn which applet links to create, and for the
// minimal kernel dpkg-query, tar and make.
//
// # Cache layout
//
// Images live under Options.CacheDir, by default /var/lib/vmctl/images:
//
//	<CacheDir>/
//	  .lock                  flock(2) taken by every Build; Load needs no lock
//	  current -> <id>        symlink to the image of the latest Build
//	  debs/                  kernel packages fetched by apt-get download
//	  <id>/                  one image per build key, <id> = first 16 hex digits
//	    bzImage              the stock compressed kernel, always kept
//	    vmlinux              uncompressed ELF, only when the kernel boots via PVH
//	    initramfs.cpio       newc cpio, uncompressed (see writeInitramfs)
//	    config               the kernel's build configuration
//	    manifest.json        inputs, their sha256, module load order, sizes
//	  .build-*/              a build in progress (removed by the next Build)
//
// The build key is the sha256 of the builder version, the kernel (the
// sha256 of the .deb, or the minimal kernel's key), the sha256 of the agent
// and busybox, and the sorted module list. Build returns an existing image
// with that key without rebuilding. An image is assembled in a .build-*
// directory and renamed into place, so a crash never leaves a half-written
// <id>; builders serialise on .lock.
//
// Minimal kernels have their own cache, Options.KernelCacheDir, by default
// /var/lib/vmctl/kernels, shared by every image cache:
//
//	<KernelCacheDir>/
//	  .lock                  flock(2) taken while a kernel is built
//	  <id>/                  one kernel per key, <id> = first 16 hex digits
//	    vmlinux              the PVH-bootable ELF the fast profile boots
//	    bzImage              for the stock (SeaBIOS) profile
//	    config               the final .config
//	    modules.builtin      what is built in, checked against Options.Modules
//	    kernel.json          source, fragment hash, release, sizes, build time
//	  .build-*/              a build in progress: the extracted source tree
//
// The kernel key is the sha256 of the recipe version, the source (the
// linux-source-6.1 package version, or the tarball's sha256 when another
// tarball is given) and the config fragment. The first build takes about
// 4 minutes on a 2-core host (3.4 of them compiling) and about 1.6 GB of
// temporary space, removed when it ends; the kernel keeps ~19 MB. Later
// image builds hard-link its files and take well under a second. Nothing
// removes old kernels: delete <KernelCacheDir>/<id> by hand.
//
// QEMU runs as libvirt-qemu, so the cache is world-readable: directories
// 0755, files 0644, whatever the umask.
//
// A Debian build reads the kernel package once (an xz stream cannot be
// rewound), keeping every module in a spill file under .build-* until the
// load order is known: expect about 400 MB of temporary space for Debian's
// generic kernel, plus about 80 MB per image. On a 2-core host a build from
// Debian's 6.1 package takes about 8 s; a cache hit takes well under 0.1 s
// with KernelDeb set, or about 1.5 s when apt-cache has to be asked which
// kernel is current.
//
// # Initramfs layout
//
//	/init                    the agent, 0755
//	/bin/busybox             static busybox, 0755
//	/bin/<applet> -> busybox one symlink per `busybox --list` applet
//	/modules/<name>.ko       each module to load, named by its modinfo name
//	/modules/load-order      one .ko basename per line, dependencies first;
//	                         empty for the minimal kernel
//	/dev /proc /sys /tmp /run /mnt /etc /root /sbin /usr/bin /usr/sbin /var
//
// There is no /dev/console node in the archive: the cpio writer cannot
// record device numbers, and the kernel already unpacks its built-in default
// initramfs (dev/console, c 5 1) before ours when CONFIG_INITRAMFS_SOURCE is
// empty, as in Debian's kernels. Build warns when that is not the case.
package guestimage
