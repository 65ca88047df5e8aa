package publisher_test

import "os"

var osStat = os.Stat
