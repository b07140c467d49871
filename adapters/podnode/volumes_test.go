package podnode

import (
	"os"
	"path/filepath"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func readVol(t *testing.T, dir, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatalf("read %s: %v", name, err)
	}
	return string(b)
}

// TestWriteAtomicSwapsWholeSets checks the kubelet-style atomic writer:
// keys are links into ..data, an update swaps the whole set (a removed key
// disappears, the old generation is deleted), unchanged contents are not
// rewritten, and names cannot climb out of the volume.
func TestWriteAtomicSwapsWholeSets(t *testing.T) {
	dir := t.TempDir()
	if err := writeAtomic(dir, map[string]file{"a": {[]byte("1"), 0o644}, "sub/b": {[]byte("2"), 0o600}}); err != nil {
		t.Fatal(err)
	}
	if got := readVol(t, dir, "a") + readVol(t, dir, "sub/b"); got != "12" {
		t.Fatalf("contents %q", got)
	}
	if l, err := os.Readlink(filepath.Join(dir, "a")); err != nil || l != "..data/a" {
		t.Fatalf("a is not a link into ..data: %q %v", l, err)
	}
	if st, _ := os.Stat(filepath.Join(dir, "sub/b")); st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", st.Mode().Perm())
	}
	gen1, _ := os.Readlink(filepath.Join(dir, "..data"))

	if err := writeAtomic(dir, map[string]file{"a": {[]byte("1"), 0o644}, "sub/b": {[]byte("2"), 0o600}}); err != nil {
		t.Fatal(err)
	}
	if gen, _ := os.Readlink(filepath.Join(dir, "..data")); gen != gen1 {
		t.Errorf("unchanged contents were rewritten: %s -> %s", gen1, gen)
	}

	if err := writeAtomic(dir, map[string]file{"a": {[]byte("new"), 0o644}}); err != nil {
		t.Fatal(err)
	}
	if got := readVol(t, dir, "a"); got != "new" {
		t.Errorf("a = %q after the update", got)
	}
	if _, err := os.Lstat(filepath.Join(dir, "sub")); !os.IsNotExist(err) {
		t.Errorf("removed key sub/b still there: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, gen1)); !os.IsNotExist(err) {
		t.Errorf("old generation %s not removed", gen1)
	}

	if err := writeAtomic(dir, map[string]file{"../escape": {[]byte("x"), 0o644}}); err == nil {
		t.Error("a name with .. was accepted")
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(dir), "escape")); err == nil {
		t.Error("a file was written outside the volume")
	}
}

// TestCopyTreeKeepsLinksInside checks the copy used where nothing can be
// mounted (chroot): relative links are copied as links, and a link in the
// destination cannot redirect a write outside it.
func TestCopyTreeKeepsLinksInside(t *testing.T) {
	src, dst, outside := t.TempDir(), t.TempDir(), t.TempDir()
	if err := writeAtomic(src, map[string]file{"key": {[]byte("v1"), 0o644}}); err != nil {
		t.Fatal(err)
	}
	// a hostile link already in the container's root
	if err := os.Symlink(outside, filepath.Join(dst, "..data")); err != nil {
		t.Fatal(err)
	}
	if err := copyTree(src, dst); err != nil {
		t.Fatal(err)
	}
	if got := readVol(t, dst, "key"); got != "v1" {
		t.Errorf("key = %q", got)
	}
	ents, _ := os.ReadDir(outside)
	if len(ents) != 0 {
		t.Errorf("copy wrote outside the destination: %v", ents)
	}
	if err := writeAtomic(src, map[string]file{"key": {[]byte("v2"), 0o644}}); err != nil {
		t.Fatal(err)
	}
	if err := copyTree(src, dst); err != nil {
		t.Fatal(err)
	}
	if got := readVol(t, dst, "key"); got != "v2" {
		t.Errorf("after the refresh key = %q, want v2", got)
	}
}

// TestDownwardAPIFiles checks the fields and resources a downwardAPI
// volume renders.
func TestDownwardAPIFiles(t *testing.T) {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns", UID: "u1", Labels: map[string]string{"b": "2", "a": "1"}},
		Spec: corev1.PodSpec{NodeName: "n1", Containers: []corev1.Container{{Name: "c",
			Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("64Mi"), corev1.ResourceCPU: resource.MustParse("250m")}}}}},
	}
	items := []corev1.DownwardAPIVolumeFile{
		{Path: "name", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}},
		{Path: "labels", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.labels"}},
		{Path: "label-a", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.labels['a']"}},
		{Path: "ip", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "status.podIP"}},
		{Path: "mem", ResourceFieldRef: &corev1.ResourceFieldSelector{ContainerName: "c", Resource: "limits.memory", Divisor: resource.MustParse("1Mi")}},
		{Path: "cpu", ResourceFieldRef: &corev1.ResourceFieldSelector{ContainerName: "c", Resource: "limits.cpu", Divisor: resource.MustParse("1m")}},
	}
	files, err := downwardFiles(pod, "192.0.2.9", items, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"name": "web", "labels": "a=\"1\"\nb=\"2\"", "label-a": "1", "ip": "192.0.2.9", "mem": "64", "cpu": "250"}
	for k, w := range want {
		if got := string(files[k].data); got != w {
			t.Errorf("%s = %q, want %q", k, got, w)
		}
	}
	if _, err := downwardFiles(pod, "", []corev1.DownwardAPIVolumeFile{{Path: "x", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "spec.nope"}}}, nil); err == nil {
		t.Error("an unknown field was accepted")
	}
}

// TestLendMovesTheVolumeIntoTheRoot checks chroot's volumes: the path in
// the container's root is the volume's own directory (what the image had
// there is gone, as under a mount), the volume's place links to it, and a
// volume already lent is refused.
func TestLendMovesTheVolumeIntoTheRoot(t *testing.T) {
	base := t.TempDir()
	src := filepath.Join(base, "pvc")
	root := filepath.Join(base, "root")
	dst := filepath.Join(root, "data")
	if err := os.MkdirAll(src, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "old"), []byte("kept"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dst, "from-image"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := lend(src, dst); err != nil {
		t.Fatal(err)
	}
	if got := readVol(t, dst, "old"); got != "kept" {
		t.Fatalf("the lent volume holds %q", got)
	}
	if _, err := os.Stat(filepath.Join(dst, "from-image")); err == nil {
		t.Error("the image's files at the mount path are still there")
	}
	if err := os.WriteFile(filepath.Join(dst, "proof"), []byte("w"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := readVol(t, src, "proof"); got != "w" {
		t.Fatalf("a write in the root is not seen at the volume's place: %q", got)
	}
	if err := lend(src, filepath.Join(base, "root2", "data")); err == nil {
		t.Error("a lent volume was lent again")
	}
	c := &ctr{r: &podRun{}}
	c.returnVolumes([]lentVolume{{src: src, dst: dst}})
	if st, err := os.Lstat(src); err != nil || !st.IsDir() {
		t.Fatalf("the volume is not back at its place: %v %v", st, err)
	}
	if got := readVol(t, src, "proof"); got != "w" {
		t.Fatalf("after the return: %q", got)
	}
	if _, err := os.Lstat(dst); err == nil {
		t.Error("the volume is still in the root")
	}
}
