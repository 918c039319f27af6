package postgres_test

import (
	"context"
	"testing"

	"github.com/coffer-money/coffer"
	"github.com/coffer-money/coffer/postgres"
	"github.com/coffer-money/coffer/postgres/pgtest"
	"github.com/coffer-money/coffer/storetest"
)

func openURL(t *testing.T, u string, opt postgres.Options) *postgres.DB {
	t.Helper()
	db, err := postgres.Open(context.Background(), u, opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func open(t *testing.T) coffer.Store { return openURL(t, pgtest.URL(t), postgres.Options{}) }

func TestDB_Contract(t *testing.T) { storetest.Run(t, open) }

func TestDB_ContractSerializable(t *testing.T) {
	storetest.Run(t, func(t *testing.T) coffer.Store {
		return openURL(t, pgtest.URL(t), postgres.Options{Isolation: "serializable"})
	})
}
