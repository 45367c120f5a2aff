// Package e2e holds the end-to-end tests: the real Temporal development server, MinIO,
// PostgreSQL and an SMTP server, with the worker and the API of this repository, driven
// over HTTP as a moderator and an applicant would.
package e2e
