// go-echo - a Go echo server, a peer for scripts/bench.sh (issue 14).
//
//	go-echo -listen 127.0.0.1:PORT [-tls -cert FILE -key FILE] [-buf BYTES]
//
// Plain TCP, or TLS with crypto/tls's defaults (TLS 1.2 and 1.3, session
// tickets on, so a client resumes).  One goroutine per connection reads
// into its own buffer and writes back what it read, in order, until EOF.
// Port 0 binds an ephemeral port; "listening PORT" is printed once bound.
// Standard library only; run it with GOMAXPROCS=1 for one core.
package main

import (
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"time"
)

// echo copies c back to itself until EOF or an error, then closes it.
// No io.Copy: on a *net.TCPConn it would splice(2) through a pipe, and the
// peer is meant to be the ordinary read/write loop most Go servers run.
func echo(c net.Conn, size int) {
	defer c.Close()
	buf := make([]byte, size)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			if _, werr := c.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func main() {
	log.SetFlags(0)
	log.SetPrefix("go-echo: ")
	listen := flag.String("listen", "127.0.0.1:0", "address to bind, HOST:PORT")
	useTLS := flag.Bool("tls", false, "serve TLS (needs -cert and -key)")
	cert := flag.String("cert", "", "server certificate chain, PEM")
	key := flag.String("key", "", "server private key, PEM")
	size := flag.Int("buf", 65536, "read buffer per connection, bytes")
	flag.Parse()
	if flag.NArg() != 0 || *size < 1 || (*useTLS && (*cert == "" || *key == "")) {
		flag.Usage()
		os.Exit(1)
	}

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatal(err)
	}
	if *useTLS {
		pair, err := tls.LoadX509KeyPair(*cert, *key)
		if err != nil {
			log.Fatal(err)
		}
		// The defaults otherwise: versions, suites, curves, tickets
		// (with keys crypto/tls makes and rotates itself).
		ln = tls.NewListener(ln, &tls.Config{
			Certificates: []tls.Certificate{pair},
		})
	}
	fmt.Printf("listening %d\n", ln.Addr().(*net.TCPAddr).Port)
	os.Stdout.Sync()

	for {
		c, err := ln.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			if errors.Is(err, net.ErrClosed) || errors.Is(err, io.EOF) {
				return
			}
			// EMFILE and the like: say so, pause, keep serving.
			log.Print(err)
			time.Sleep(10 * time.Millisecond)
			continue
		}
		go echo(c, *size)
	}
}
