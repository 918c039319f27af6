package httpapi

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"time"

	"github.com/coffer-money/coffer"
	"github.com/prometheus/client_golang/prometheus"
)

// Gauges are the server's state the metrics read at each scrape: the
// store's pools, the WAL file, the data directory's file system, the
// scheduler and the webhook outbox. A nil field's metrics are left out.
type Gauges struct {
	// DataDir is the data directory, whose file system's free space
	// coffer_data_dir_free_bytes reports (Linux only).
	DataDir string
	// WALFile is the SQLite store's write-ahead log file ("" for
	// PostgreSQL), whose size coffer_sqlite_wal_bytes reports.
	WALFile string
	// Pools returns the store's connection pools.
	Pools func() []coffer.PoolStat
	// SchedulerLag returns how far behind the scheduler is
	// (app.Service.SchedulerLag).
	SchedulerLag func() time.Duration
	// Webhooks is read for the webhook outbox's backlog.
	Webhooks interface {
		PendingDeliveries(ctx context.Context) (int64, time.Time, error)
	}
	// MailQueue returns how many e-mails wait to be sent
	// (mail.Queue.Len).
	MailQueue func() int
	// Now is the clock the oldest pending delivery's age is measured by
	// (default time.Now).
	Now func() time.Time
}

// scrapeTimeout bounds each store query a scrape makes.
const scrapeTimeout = 2 * time.Second

// Watch registers the metrics of g, each read when scraped.
func (m *Metrics) Watch(g Gauges) {
	if g.Now == nil {
		g.Now = time.Now
	}
	if g.WALFile != "" {
		m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "coffer_sqlite_wal_bytes",
			Help: "Size of the SQLite write-ahead log file (coffer.db-wal), in bytes."}, func() float64 {
			fi, err := os.Stat(g.WALFile)
			if errors.Is(err, fs.ErrNotExist) {
				return 0
			} else if err != nil {
				return -1
			}
			return float64(fi.Size())
		}))
	}
	if g.DataDir != "" {
		registerFreeBytes(m.reg, g.DataDir)
	}
	if g.Pools != nil {
		m.reg.MustRegister(&poolCollector{pools: g.Pools})
	}
	if g.SchedulerLag != nil {
		m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "coffer_scheduler_lag_seconds",
			Help: "Seconds since the start of the scheduler's last pass that settled every protection period then ended; near --scheduler-every while it keeps up."},
			func() float64 { return g.SchedulerLag().Seconds() }))
	}
	if g.Webhooks != nil {
		m.reg.MustRegister(&backlogCollector{store: g.Webhooks, now: g.Now})
	}
	if g.MailQueue != nil {
		m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "coffer_mail_queue_length",
			Help: "E-mails waiting to be sent; beyond --mail-queue they are dropped (coffer_mail_total{outcome=\"dropped\"})."},
			func() float64 { return float64(g.MailQueue()) }))
	}
}

var (
	poolMax      = prometheus.NewDesc("coffer_db_pool_max_connections", "The most connections the database pool opens.", []string{"pool"}, nil)
	poolOpen     = prometheus.NewDesc("coffer_db_pool_open_connections", "Connections the database pool has open, in use or idle.", []string{"pool"}, nil)
	poolInUse    = prometheus.NewDesc("coffer_db_pool_in_use_connections", "Connections of the database pool in use.", []string{"pool"}, nil)
	poolIdle     = prometheus.NewDesc("coffer_db_pool_idle_connections", "Connections of the database pool open and idle.", []string{"pool"}, nil)
	poolWaits    = prometheus.NewDesc("coffer_db_pool_waits_total", "Times a query waited for a connection of the database pool (PostgreSQL: acquires from an empty pool).", []string{"pool"}, nil)
	poolWaitTime = prometheus.NewDesc("coffer_db_pool_wait_seconds_total", "Total time queries waited for a connection of the database pool.", []string{"pool"}, nil)
)

// poolCollector reads the store's pools at each scrape.
type poolCollector struct{ pools func() []coffer.PoolStat }

func (c *poolCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{poolMax, poolOpen, poolInUse, poolIdle, poolWaits, poolWaitTime} {
		ch <- d
	}
}

func (c *poolCollector) Collect(ch chan<- prometheus.Metric) {
	for _, p := range c.pools() {
		ch <- prometheus.MustNewConstMetric(poolMax, prometheus.GaugeValue, float64(p.Max), p.Pool)
		ch <- prometheus.MustNewConstMetric(poolOpen, prometheus.GaugeValue, float64(p.Open), p.Pool)
		ch <- prometheus.MustNewConstMetric(poolInUse, prometheus.GaugeValue, float64(p.InUse), p.Pool)
		ch <- prometheus.MustNewConstMetric(poolIdle, prometheus.GaugeValue, float64(p.Idle), p.Pool)
		ch <- prometheus.MustNewConstMetric(poolWaits, prometheus.CounterValue, float64(p.Waits), p.Pool)
		ch <- prometheus.MustNewConstMetric(poolWaitTime, prometheus.CounterValue, p.WaitTime.Seconds(), p.Pool)
	}
}

var (
	backlogCount = prometheus.NewDesc("coffer_webhook_backlog", "Webhook deliveries pending in the outbox (not yet delivered nor given up).", nil, nil)
	backlogAge   = prometheus.NewDesc("coffer_webhook_backlog_oldest_seconds", "Age of the oldest pending webhook delivery, in seconds (0: none pending).", nil, nil)
)

// backlogCollector counts the webhook outbox's pending deliveries at each
// scrape. When the store does not answer in time, the metrics are left
// out of that scrape (and the scrape reports the error).
type backlogCollector struct {
	store interface {
		PendingDeliveries(ctx context.Context) (int64, time.Time, error)
	}
	now func() time.Time
}

func (c *backlogCollector) Describe(ch chan<- *prometheus.Desc) { ch <- backlogCount; ch <- backlogAge }

func (c *backlogCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()
	n, oldest, err := c.store.PendingDeliveries(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(backlogCount, err)
		return
	}
	age := 0.0
	if !oldest.IsZero() {
		age = max(0, c.now().Sub(oldest).Seconds())
	}
	ch <- prometheus.MustNewConstMetric(backlogCount, prometheus.GaugeValue, float64(n))
	ch <- prometheus.MustNewConstMetric(backlogAge, prometheus.GaugeValue, age)
}
