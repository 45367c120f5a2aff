package api

import (
	_ "embed"
	"net/http"

	"github.com/gin-gonic/gin"
)

// openAPIDocument is the contract of every /api/v1 endpoint (OpenAPI 3.1, in French).
// The API tests validate each request and response against it, and check that it lists
// exactly the routes of Handler, so it cannot drift from the code.
//
//go:embed openapi.json
var openAPIDocument []byte

// openAPIPath is where the document is served, under /api/v1.
const openAPIPath = "/openapi.json"

// serveOpenAPI answers the document as it is embedded in the binary.
func serveOpenAPI(c *gin.Context) {
	c.Data(http.StatusOK, "application/json; charset=utf-8", openAPIDocument)
}
