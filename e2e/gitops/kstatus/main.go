// kstatus prints the verdict of sigs.k8s.io/cli-utils' kstatus (the library Flux, kpt and
// Config Sync decide health with) for every Kubernetes object on stdin.
//
// Input: JSON or YAML, one or more documents; a List (`kubectl get ... -o json`) counts as
// its items. Output: one JSON object per line,
//
//	{"kind":"ModelDeployment","namespace":"ml","name":"resnet","status":"Current","message":"..."}
//
// where status is what status.Compute says (InProgress, Current, Failed, Terminating, ...).
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
)

type verdict struct {
	Kind      string `json:"kind"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
	Status    string `json:"status"`
	Message   string `json:"message"`
}

func main() {
	if len(os.Args) > 1 {
		fmt.Fprintln(os.Stderr, "usage: kubectl get <kind> <name> -o json | kstatus\n"+
			"prints kstatus' verdict (status.Compute) for every object on stdin, one JSON line each")
		os.Exit(2)
	}
	if err := run(os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "kstatus:", err)
		os.Exit(1)
	}
}

func run(in io.Reader, out io.Writer) error {
	decoder := yaml.NewYAMLOrJSONDecoder(in, 4096)
	encoder := json.NewEncoder(out)
	for document := 1; ; document++ {
		var raw json.RawMessage
		if err := decoder.Decode(&raw); errors.Is(err, io.EOF) {
			return nil
		} else if err != nil {
			return fmt.Errorf("document %d is neither JSON nor YAML: %w", document, err)
		}
		if len(raw) == 0 || string(raw) == "null" {
			continue // an empty YAML document, e.g. after a trailing ---
		}
		// The unstructured scheme keeps integers as int64 (generation, observedGeneration),
		// which kstatus needs; a plain json.Unmarshal would make them float64.
		decoded, err := runtime.Decode(unstructured.UnstructuredJSONScheme, raw)
		if err != nil {
			return fmt.Errorf("document %d is not a Kubernetes object (apiVersion and kind are required): %w", document, err)
		}
		objects := []*unstructured.Unstructured{}
		switch o := decoded.(type) {
		case *unstructured.UnstructuredList:
			for i := range o.Items {
				objects = append(objects, &o.Items[i])
			}
		case *unstructured.Unstructured:
			objects = append(objects, o)
		default:
			return fmt.Errorf("document %d: unexpected object type %T", document, decoded)
		}
		for _, u := range objects {
			result, err := status.Compute(u)
			if err != nil {
				return fmt.Errorf("%s %s/%s: %w", u.GetKind(), u.GetNamespace(), u.GetName(), err)
			}
			v := verdict{u.GetKind(), u.GetNamespace(), u.GetName(), result.Status.String(), result.Message}
			if err := encoder.Encode(v); err != nil {
				return err
			}
		}
	}
}
