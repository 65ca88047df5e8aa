package provisioning_test

import (
	"bytes"
	"crypto/rand"
	"testing"

	"github.com/openiomt/sdk/provisioning"
)

func reassemble(t *testing.T, r *provisioning.Reassembler, frames [][]byte) ([]byte, error) {
	t.Helper()
	for i, f := range frames {
		msg, err := r.Add(f)
		if err != nil {
			return nil, err
		}
		if msg != nil {
			if i != len(frames)-1 {
				t.Fatalf("message complete after frame %d of %d", i+1, len(frames))
			}
			return msg, nil
		}
	}
	return nil, nil
}

func TestFramingRoundTrip(t *testing.T) {
	for _, mtu := range []int{provisioning.MinMTU, 23, 185, 244, provisioning.MaxMTU} {
		for _, n := range []int{1, 9, 10, 100, 1000, provisioning.MaxPairingSize} {
			msg := make([]byte, n)
			rand.Read(msg)
			frames, err := provisioning.SplitFrames(msg, mtu)
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range frames {
				if len(f) > mtu {
					t.Fatalf("frame of %d bytes over MTU %d", len(f), mtu)
				}
			}
			var r provisioning.Reassembler
			got, err := reassemble(t, &r, frames)
			if err != nil || !bytes.Equal(got, msg) {
				t.Fatalf("mtu %d, %d bytes: %v", mtu, n, err)
			}
			// The reassembler is ready for the next message.
			if got, err := reassemble(t, &r, frames); err != nil || !bytes.Equal(got, msg) {
				t.Fatalf("second message: %v", err)
			}
		}
	}
}

func TestFramingRejects(t *testing.T) {
	msg := make([]byte, 200)
	rand.Read(msg)
	frames, _ := provisioning.SplitFrames(msg, provisioning.MinMTU)
	cases := map[string]struct {
		frames [][]byte
		want   error
	}{
		"gap":            {[][]byte{frames[0], frames[2]}, provisioning.ErrFrameGap},
		"duplicate":      {[][]byte{frames[0], frames[1], frames[1]}, provisioning.ErrFrameDuplicate},
		"starts midway":  {[][]byte{frames[3]}, provisioning.ErrFrameGap},
		"restart":        {[][]byte{frames[0], frames[1], frames[0]}, provisioning.ErrFrameDuplicate},
		"oversize frame": {[][]byte{make([]byte, provisioning.MaxMTU+1)}, provisioning.ErrTooLarge},
		"bad version":    {[][]byte{append([]byte{9}, frames[0][1:]...)}, provisioning.ErrMalformed},
		"short header":   {[][]byte{{1, 0}}, provisioning.ErrMalformed},
		"empty frame":    {[][]byte{frames[0], {1, 0, 1}}, provisioning.ErrMalformed},
	}
	corrupt := bytes.Clone(frames[5])
	corrupt[len(corrupt)-1] ^= 1
	cases["corrupt"] = struct {
		frames [][]byte
		want   error
	}{append(append(append([][]byte{}, frames[:5]...), corrupt), frames[6:]...), provisioning.ErrFrameIntegrity}
	// Declared length above the limit: a peer cannot make us allocate it.
	huge := bytes.Clone(frames[0])
	huge[3], huge[4], huge[5], huge[6] = 0x7f, 0xff, 0xff, 0xff
	cases["declared oversize"] = struct {
		frames [][]byte
		want   error
	}{[][]byte{huge}, provisioning.ErrTooLarge}
	// More data than declared.
	short := bytes.Clone(frames[0])
	short[3], short[4], short[5], short[6] = 0, 0, 0, 12
	cases["data beyond length"] = struct {
		frames [][]byte
		want   error
	}{[][]byte{short, frames[1]}, provisioning.ErrTooLarge}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			var r provisioning.Reassembler
			_, err := reassemble(t, &r, tc.frames)
			wantErr(t, err, tc.want)
			// After an error the reassembler starts over.
			got, err := reassemble(t, &r, frames)
			if err != nil || !bytes.Equal(got, msg) {
				t.Fatalf("after error: %v", err)
			}
		})
	}
	r := provisioning.Reassembler{MaxMessageSize: 100}
	_, err := reassemble(t, &r, frames)
	wantErr(t, err, provisioning.ErrTooLarge)
	for _, mtu := range []int{provisioning.MinMTU - 1, provisioning.MaxMTU + 1} {
		if _, err := provisioning.SplitFrames(msg, mtu); err == nil {
			t.Errorf("MTU %d accepted", mtu)
		}
	}
	if _, err := provisioning.SplitFrames(nil, 100); err == nil {
		t.Error("empty message accepted")
	}
	if _, err := provisioning.SplitFrames(make([]byte, provisioning.MaxFramedMessage+1), 100); err == nil {
		t.Error("oversize message accepted")
	}
}
