package nextcloud

import (
	"fmt"
	"strconv"
	"strings"
)

// phpKV is one entry of a PHP array.
type phpKV struct {
	Key   string
	Value any // string, int, int64, bool, []string, phpArray
}

// phpArray is a PHP array with string keys, in order.
type phpArray []phpKV

// phpConfigFile returns a Nextcloud configuration file setting the keys of config.
// Nextcloud reads every *.config.php of the configuration directory after config.php,
// and their values win: the files the driver writes hold only what it owns.
func phpConfigFile(comment string, config phpArray) []byte {
	var b strings.Builder
	b.WriteString("<?php\n")
	for _, line := range strings.Split(comment, "\n") {
		b.WriteString("// " + line + "\n")
	}
	b.WriteString("$CONFIG = ")
	writePHP(&b, config, 0)
	b.WriteString(";\n")
	return []byte(b.String())
}

func writePHP(b *strings.Builder, v any, depth int) {
	indent := strings.Repeat("  ", depth+1)
	switch v := v.(type) {
	case string:
		b.WriteString(phpString(v))
	case int:
		b.WriteString(strconv.Itoa(v))
	case int64:
		b.WriteString(strconv.FormatInt(v, 10))
	case bool:
		b.WriteString(strconv.FormatBool(v))
	case []string:
		b.WriteString("[\n")
		for i, s := range v {
			fmt.Fprintf(b, "%s%d => %s,\n", indent, i, phpString(s))
		}
		b.WriteString(strings.Repeat("  ", depth) + "]")
	case []phpArray:
		b.WriteString("[\n")
		for i, a := range v {
			fmt.Fprintf(b, "%s%d => ", indent, i)
			writePHP(b, a, depth+1)
			b.WriteString(",\n")
		}
		b.WriteString(strings.Repeat("  ", depth) + "]")
	case phpArray:
		b.WriteString("[\n")
		for _, kv := range v {
			b.WriteString(indent + phpString(kv.Key) + " => ")
			writePHP(b, kv.Value, depth+1)
			b.WriteString(",\n")
		}
		b.WriteString(strings.Repeat("  ", depth) + "]")
	default:
		panic(fmt.Sprintf("writePHP: unsupported type %T", v))
	}
}

// phpString quotes s as a single-quoted PHP string, where only \ and ' are special.
func phpString(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}
