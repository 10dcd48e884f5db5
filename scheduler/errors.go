package scheduler

import "errors"

// Sentinel errors. Callers test for them with errors.Is; the messages that
// wrap them carry the details (which host, which field, which numbers).
var (
	// ErrNoValidHost: no host passed every filter. The error lists each
	// host and the filter that rejected it.
	ErrNoValidHost = errors.New("no valid host")
	// ErrInvalidRequest: a Request was malformed; nothing was placed.
	ErrInvalidRequest = errors.New("invalid placement request")
	// ErrInvalidPolicy: a Policy field is out of range.
	ErrInvalidPolicy = errors.New("invalid scheduler policy")
	// ErrInvalidHostsFile: the hosts file could not be used as written.
	ErrInvalidHostsFile = errors.New("invalid hosts file")
	// ErrNameClaimed: another live claim (another vmctl process creating a
	// VM right now) holds the same VM name on a host of this fleet.
	ErrNameClaimed = errors.New("vm name already claimed")
	// ErrNameExists: a host of the fleet already has a VM of that name.
	ErrNameExists = errors.New("vm name already exists")
)
