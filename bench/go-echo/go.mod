module secho.local/bench/go-echo

go 1.19
