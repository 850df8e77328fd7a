// Renders an Ollama TEMPLATE with Go's own text/template, as Ollama does: stdin is JSON
// {"template": "...", "data": {"Messages": [{"Role": ..., "Content": ...}], "System": ..., "Prompt": ...}}.
// Used by tests/test_modelfile.py: `go run tests/data/ollama_render.go < input.json`.
package main

import (
	"encoding/json"
	"os"
	"text/template"
)

type Message struct {
	Role    string
	Content string
}

type Data struct {
	Messages []Message
	System   string
	Prompt   string
}

func main() {
	var in struct {
		Template string
		Data     Data
	}
	if err := json.NewDecoder(os.Stdin).Decode(&in); err != nil {
		panic(err)
	}
	t := template.Must(template.New("modelfile").Parse(in.Template))
	if err := t.Execute(os.Stdout, in.Data); err != nil {
		panic(err)
	}
}
