package client

import (
	"context"
	"net/http"

	"github.com/anchorwatch/anchorwatch/api"
)

// PostObservations sends one batch of network evidence with an admin API
// token (`collector ingest --url`). The collector acknowledges a batch it
// already holds as a duplicate.
func (c *Client) PostObservations(ctx context.Context, token string, b api.ObservationBatch) (api.ObservationsResponse, error) {
	var out api.ObservationsResponse
	h := http.Header{"Authorization": {"Bearer " + token}}
	err := c.do(ctx, http.MethodPost, api.PathObservations, h, b, &out)
	return out, err
}
