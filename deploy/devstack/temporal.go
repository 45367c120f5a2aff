package devstack

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/log"
	"go.yaml.in/yaml/v3"
	"google.golang.org/protobuf/types/known/durationpb"
)

// temporalReadyTimeout bounds how long StartTemporal waits for the server: it
// creates or migrates its SQLite store before it answers.
const temporalReadyTimeout = 90 * time.Second

// namespaceRetention is how long a server found running keeps the histories of
// the namespace registered there: long enough to read finished workflows in the UI.
const namespaceRetention = 7 * 24 * time.Hour

// TemporalConfigFile is the name of the development server's configuration,
// at the repository root.
const TemporalConfigFile = "temporal-dev.yaml"

// TemporalConfig is how the Temporal development server runs, read from
// temporal-dev.yaml.
type TemporalConfig struct {
	// Namespace is created at start-up, next to "default".
	Namespace string `yaml:"namespace"`
	// IP is the address the frontend (gRPC) and the web UI listen on.
	IP string `yaml:"ip"`
	// Port is the frontend's gRPC port.
	Port int `yaml:"port"`
	// UIPort is the web UI's port; 0 turns the web UI off.
	UIPort int `yaml:"ui_port"`
	// DBFilename is the SQLite file the server keeps its state in; empty
	// keeps it in memory, lost when the server stops. LoadTemporalConfig
	// makes a relative path relative to the configuration file.
	DBFilename string `yaml:"db_filename"`
	// LogLevel is the server's log level: debug, info, warn, error or never.
	LogLevel string `yaml:"log_level"`
	// SearchAttributes maps custom search attribute names to their types
	// (Keyword, Text, Int, Double, Bool, Datetime, KeywordList).
	SearchAttributes map[string]string `yaml:"search_attributes"`
	// DynamicConfig maps dynamic configuration keys to their values.
	DynamicConfig map[string]any `yaml:"dynamic_config"`
	// UICodecEndpoint is where the web UI has payloads decoded (make dev: the API's
	// /codec); empty shows them as stored.
	UICodecEndpoint string `yaml:"-"`
}

// LoadTemporalConfig reads a development server configuration such as
// temporal-dev.yaml. Unknown keys are errors, to catch typos.
func LoadTemporalConfig(path string) (TemporalConfig, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return TemporalConfig{}, fmt.Errorf("load temporal config: %w", err)
	}
	var c TemporalConfig
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
		return TemporalConfig{}, fmt.Errorf("load temporal config %q: %w", path, err)
	}
	if c.DBFilename != "" && !filepath.IsAbs(c.DBFilename) {
		c.DBFilename = filepath.Join(filepath.Dir(path), c.DBFilename)
	}
	if err := c.validate(); err != nil {
		return TemporalConfig{}, fmt.Errorf("load temporal config %q: %w", path, err)
	}
	return c, nil
}

func (c TemporalConfig) validate() error {
	var errs []error
	if c.Namespace == "" {
		errs = append(errs, errors.New("namespace is empty"))
	}
	if c.IP == "" {
		errs = append(errs, errors.New("ip is empty"))
	}
	if c.Port <= 0 || c.Port > 65535 {
		errs = append(errs, fmt.Errorf("port %d is not a TCP port", c.Port))
	}
	if c.UIPort < 0 || c.UIPort > 65535 {
		errs = append(errs, fmt.Errorf("ui_port %d is not a TCP port", c.UIPort))
	}
	for name, typ := range c.SearchAttributes {
		if _, ok := searchAttributeType(typ); !ok {
			errs = append(errs, fmt.Errorf("search attribute %q: unknown type %q", name, typ))
		}
	}
	for key, value := range c.DynamicConfig {
		if _, err := json.Marshal(value); err != nil {
			errs = append(errs, fmt.Errorf("dynamic config %q: %w", key, err))
		}
	}
	return errors.Join(errs...)
}

// HostPort is the address clients dial to reach the server.
func (c TemporalConfig) HostPort() string {
	return dialAddr(net.JoinHostPort(c.IP, strconv.Itoa(c.Port)))
}

// Args returns the arguments of `temporal` that start the development server
// as configured. Search attributes and dynamic config values come in key
// order, so the result is the same for the same configuration.
func (c TemporalConfig) Args() []string {
	args := []string{
		"server", "start-dev",
		"--ip", c.IP,
		"--port", strconv.Itoa(c.Port),
	}
	if c.UIPort > 0 {
		args = append(args, "--ui-port", strconv.Itoa(c.UIPort))
		if c.UICodecEndpoint != "" {
			args = append(args, "--ui-codec-endpoint", c.UICodecEndpoint)
		}
	} else {
		args = append(args, "--headless")
	}
	if c.Namespace != "" {
		args = append(args, "--namespace", c.Namespace)
	}
	if c.DBFilename != "" {
		args = append(args, "--db-filename", c.DBFilename)
	}
	if c.LogLevel != "" {
		args = append(args, "--log-level", c.LogLevel)
	}
	for _, name := range slices.Sorted(maps.Keys(c.SearchAttributes)) {
		args = append(args, "--search-attribute", name+"="+c.SearchAttributes[name])
	}
	for _, key := range slices.Sorted(maps.Keys(c.DynamicConfig)) {
		// The CLI wants JSON values; validate has checked they encode.
		value, _ := json.Marshal(c.DynamicConfig[key])
		args = append(args, "--dynamic-config-value", key+"="+string(value))
	}
	return args
}

// TemporalOptions say how to run the Temporal development server.
type TemporalOptions struct {
	// Bin is the temporal CLI binary; empty means bin/temporal (see Binary).
	Bin string
	// Config is the server configuration, usually from LoadTemporalConfig;
	// tests override the ports and the database file.
	Config TemporalConfig
	// Output receives the server's standard output and error, if not nil.
	Output io.Writer
}

// StartTemporal runs `temporal server start-dev` and returns once the frontend
// answers and the configured namespace exists with every configured search
// attribute, at most 90 seconds later. A search attribute missing from a
// database file made by an older configuration is added then. ctx bounds only
// the start-up: the server runs until Process.Stop is called.
func StartTemporal(ctx context.Context, o TemporalOptions) (*Process, error) {
	cfg := o.Config
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("start temporal: %w", err)
	}
	if o.Bin == "" {
		bin, err := Binary("temporal")
		if err != nil {
			return nil, fmt.Errorf("start temporal: %w", err)
		}
		o.Bin = bin
	}
	addrs := []string{net.JoinHostPort(cfg.IP, strconv.Itoa(cfg.Port))}
	if cfg.UIPort > 0 {
		addrs = append(addrs, net.JoinHostPort(cfg.IP, strconv.Itoa(cfg.UIPort)))
	}
	for _, addr := range addrs {
		if err := checkFree(addr); err != nil {
			return nil, fmt.Errorf("start temporal: %w", err)
		}
	}
	if cfg.DBFilename != "" {
		if err := os.MkdirAll(filepath.Dir(cfg.DBFilename), 0o750); err != nil {
			return nil, fmt.Errorf("start temporal: %w", err)
		}
	}

	p, err := startProcess("temporal", o.Bin, cfg.Args(), nil, nil, o.Output)
	if err != nil {
		return nil, err
	}
	var c client.Client
	err = waitReady(ctx, p, temporalReadyTimeout, func(ctx context.Context) error {
		if c == nil {
			dialed, err := client.DialContext(ctx, client.Options{
				HostPort:  cfg.HostPort(),
				Namespace: cfg.Namespace,
				Logger:    log.NewStructuredLogger(slog.New(slog.DiscardHandler)),
			})
			if err != nil {
				return err
			}
			c = dialed
		}
		return temporalReady(ctx, c, cfg)
	})
	if c != nil {
		c.Close()
	}
	if err != nil {
		return nil, err
	}
	return p, nil
}

// temporalReady checks that the server serves cfg.Namespace with every search
// attribute of cfg, adding the missing ones.
func temporalReady(ctx context.Context, c client.Client, cfg TemporalConfig) error {
	if _, err := c.CheckHealth(ctx, &client.CheckHealthRequest{}); err != nil {
		return fmt.Errorf("check health: %w", err)
	}
	_, err := c.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: cfg.Namespace})
	var notFound *serviceerror.NamespaceNotFound
	if errors.As(err, &notFound) {
		// A server found running may lack it; the development server started here
		// has it from --namespace.
		_, err = c.WorkflowService().RegisterNamespace(ctx, &workflowservice.RegisterNamespaceRequest{
			Namespace:                        cfg.Namespace,
			WorkflowExecutionRetentionPeriod: durationpb.New(namespaceRetention),
		})
		var exists *serviceerror.NamespaceAlreadyExists
		if err != nil && !errors.As(err, &exists) {
			return fmt.Errorf("register namespace %q: %w", cfg.Namespace, err)
		}
		return fmt.Errorf("namespace %q registered, waiting for it to show", cfg.Namespace)
	}
	if err != nil {
		return fmt.Errorf("describe namespace %q: %w", cfg.Namespace, err)
	}
	if len(cfg.SearchAttributes) == 0 {
		return nil
	}
	list, err := c.OperatorService().ListSearchAttributes(ctx,
		&operatorservice.ListSearchAttributesRequest{Namespace: cfg.Namespace})
	if err != nil {
		return fmt.Errorf("list search attributes: %w", err)
	}
	missing := map[string]enums.IndexedValueType{}
	for _, name := range slices.Sorted(maps.Keys(cfg.SearchAttributes)) {
		want, _ := searchAttributeType(cfg.SearchAttributes[name])
		got, ok := list.GetCustomAttributes()[name]
		switch {
		case !ok:
			missing[name] = want
		case got != want:
			// Temporal cannot change the type of a search attribute.
			return permanentError{fmt.Errorf("search attribute %q is a %s in the store, not a %s: delete %s to start afresh",
				name, got, want, cfg.DBFilename)}
		}
	}
	if len(missing) == 0 {
		return nil
	}
	_, err = c.OperatorService().AddSearchAttributes(ctx, &operatorservice.AddSearchAttributesRequest{
		Namespace:        cfg.Namespace,
		SearchAttributes: missing,
	})
	if err != nil {
		return fmt.Errorf("add search attributes: %w", err)
	}
	// Checked again on the next round, once the server shows them.
	return errors.New("search attributes added, waiting for them to show")
}

// searchAttributeType parses a search attribute type name, ignoring case as
// the CLI does.
func searchAttributeType(name string) (enums.IndexedValueType, bool) {
	for shorthand, value := range enums.IndexedValueType_shorthandValue {
		if strings.EqualFold(name, shorthand) && value != 0 {
			return enums.IndexedValueType(value), true
		}
	}
	return 0, false
}
