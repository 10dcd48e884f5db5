package main

import (
	"fmt"

	"github.com/urfave/cli/v2"
	"io"
	"reflect"
	"strings"
	"testing"

	"github.com/sirupsen/logrus"
)

func TestInterspersed(t *testing.T) {
	app := newApp(logrus.New())
	tests := []struct {
		in, want string
	}{
		{"vmctl vm create a --vcpus 2 --memory 512", "vmctl vm create --vcpus 2 --memory 512 a"},
		{"vmctl -o json vm create a --no-wait --share /x:y", "vmctl -o json vm create --no-wait --share /x:y a"},
		{"vmctl --connect qemu:///system vm ls", "vmctl --connect qemu:///system vm ls"},
		{"vmctl vm exec a -- sh -c --vcpus", "vmctl vm exec a -- sh -c --vcpus"},
		{"vmctl vm exec a --timeout 1s -- sleep 9", "vmctl vm exec --timeout 1s a -- sleep 9"},
		{"vmctl vm create --memory=300 a", "vmctl vm create --memory=300 a"},
		{"vmctl bench boot --count 3", "vmctl bench boot --count 3"},
		{"vmctl vm list -o json", "vmctl -o json vm list"},
		{"vmctl vm create a --output=json --vcpus 2", "vmctl --output=json vm create --vcpus 2 a"},
		{"vmctl vm exec a -- ls -o json", "vmctl vm exec a -- ls -o json"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got := strings.Join(interspersed(app, strings.Fields(tt.in)), " ")
			if got != tt.want {
				t.Fatalf("got  %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestFlagsAfterNameReachTheCommand(t *testing.T) {
	app := newApp(logrus.New())
	app.Writer, app.ErrWriter = io.Discard, io.Discard
	var got []string
	app.Commands = append(app.Commands, probeCommand(&got))
	argv := interspersed(app, []string{"vmctl", "probe", "NAME", "--n", "7", "--flag"})
	if err := app.Run(argv); err != nil {
		t.Fatal(err)
	}
	if want := []string{"NAME", "7", "true"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

func probeCommand(got *[]string) *cli.Command {
	return &cli.Command{
		Name:  "probe",
		Flags: []cli.Flag{&cli.IntFlag{Name: "n"}, &cli.BoolFlag{Name: "flag"}},
		Action: func(c *cli.Context) error {
			*got = []string{c.Args().First(), fmt.Sprint(c.Int("n")), fmt.Sprint(c.Bool("flag"))}
			return nil
		},
	}
}
