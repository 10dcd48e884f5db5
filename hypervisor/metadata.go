package hypervisor

import (
	"encoding/xml"
	"fmt"
	"time"
)

// MetadataNamespace marks a libvirt domain as vmctl's. Domains without an
// element in this namespace are invisible to vmctl and never modified.
const (
	MetadataNamespace = "https://vmctl.dev/xmlns/vm/1"
	MetadataPrefix    = "vmctl"
	// AgentChannelName is the virtio-serial port name the agent looks for.
	AgentChannelName = "org.vmctl.agent.0"
)

// Metadata is vmctl's own record on each domain. libvirtxml has no type for
// application metadata (it is ours by definition), so encoding/xml marshals
// this one element, which libvirtxml then embeds verbatim.
type Metadata struct {
	XMLName     xml.Name  `json:"-"`
	Version     int       `xml:"version,attr" json:"version"`
	Created     time.Time `xml:"created" json:"created"`
	AccelMode   Accel     `xml:"accel>mode" json:"accel"`
	AccelReason string    `xml:"accel>reason" json:"accel_reason"`
	Profile     string    `xml:"profile" json:"profile"`
	ImageDir    string    `xml:"image" json:"image_dir"`
	StateDir    string    `xml:"statedir" json:"state_dir"`
	Shares      []Share   `xml:"shares>share" json:"shares,omitempty"`
	// Group is the affinity group (scheduler) or pool the VM belongs to.
	Group string `xml:"group,omitempty" json:"group,omitempty"`
	// GroupPolicy is spread (anti-affinity) or pack (affinity).
	GroupPolicy string `xml:"grouppolicy,omitempty" json:"group_policy,omitempty"`
	// Job names the job directory whose pool the VM serves, so a resumed
	// job finds (and cleans up) the VMs a crashed run left.
	Job string `xml:"job,omitempty" json:"job,omitempty"`
	// Scratch is the raw disk file created for the VM, removed with it.
	Scratch string `xml:"scratch,omitempty" json:"scratch,omitempty"`
	// Owner is the vmctl process the VM's life is bound to (job workers,
	// benchmark VMs); `vmctl gc` removes the VM once it is gone. Absent
	// (a `vm create` VM, or one made before owners were recorded): the
	// user's, never removed by gc.
	Owner *Owner `xml:"owner,omitempty" json:"owner,omitempty"`
}

// MarshalMetadata renders the element libvirt stores under <metadata>.
func MarshalMetadata(m Metadata) (string, error) {
	m.Version = 1
	m.XMLName = xml.Name{Space: MetadataNamespace, Local: "vm"}
	out, err := xml.Marshal(m)
	if err != nil {
		return "", fmt.Errorf("marshal vmctl metadata: %w", err)
	}
	return string(out), nil
}

// UnmarshalMetadata parses what libvirt returns for our namespace. libvirt
// hands the element back with its namespace stripped, so any namespace is
// accepted here; ownership was already decided by the lookup by namespace.
func UnmarshalMetadata(s string) (Metadata, error) {
	var m Metadata
	if err := xml.Unmarshal([]byte(s), &m); err != nil {
		return Metadata{}, fmt.Errorf("parse vmctl metadata: %w", err)
	}
	return m, nil
}
