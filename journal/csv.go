package journal

import (
	"strconv"
	"time"

	bridge "github.com/automattic/jetmon-bridge"
)

// CSVHeader names the columns of 'journal export -format csv': the fields
// of the API's event object, in its order. http_code and detail are always empty (null in JSON).
const CSVHeader = "id,blog_id,event_type,source,http_code,old_status,new_status,detail,created_at\n"

// AppendCSV appends e as one CSV record. No field needs quoting: they are
// numbers, fixed words and RFC 3339 times.
func AppendCSV(b []byte, e bridge.Event) []byte {
	b = strconv.AppendUint(b, e.ID, 10)
	b = append(b, ',')
	b = strconv.AppendUint(b, e.BlogID, 10)
	b = append(b, ","+bridge.EventTypeStatusTransition+","...)
	b = append(b, e.NewStatus.Source()...)
	b = append(b, ",,"...)
	b = strconv.AppendUint(b, uint64(e.OldStatus), 10)
	b = append(b, ',')
	b = strconv.AppendUint(b, uint64(e.NewStatus), 10)
	b = append(b, ",,"...)
	b = e.CreatedAt.UTC().AppendFormat(b, time.RFC3339)
	return append(b, '\n')
}
