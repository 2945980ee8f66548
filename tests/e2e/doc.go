// Package e2e runs the real jetmon-bridge binary against throwaway MariaDB
// servers driven by the Jetmon simulator: storms, crashes, server restarts,
// purged binlogs and schema changes, checked against the simulator's ground
// truth. It has no code outside its tests.
package e2e
