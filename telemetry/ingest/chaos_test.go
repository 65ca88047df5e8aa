package ingest_test

import "os"

func chaosChild() bool { return os.Getenv("IOMT_CHAOS_CHILD") != "" && false }
