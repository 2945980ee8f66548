module github.com/automattic/jetmon-bridge

go 1.26.0

require github.com/go-sql-driver/mysql v1.10.1

require (
	filippo.io/edwards25519 v1.2.0 // indirect
	github.com/gorilla/mux v1.8.1 // indirect
)
