// golock: a Go daemon whose request handlers share one mutex with a
// background goroutine, for the goroutine rules of bpf/daemons.bpf.c.
//
//	golock --unix PATH --dir DIR
//
// Protocol as daemon.h: "REQ <name>\n" makes a handler goroutine create
// DIR/<name> ("<name> pid P tid T") while it holds the lock for 20 ms, then
// answer "OK <name>\n". All along, a background goroutine takes the lock
// every 5 ms and creates DIR/background-<n>: work for no client. Each
// handler's unlock wakes it from its wait for the lock (runtime.semrelease1).
package main

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

var lock sync.Mutex

func main() {
	if len(os.Args) != 5 || os.Args[1] != "--unix" || os.Args[3] != "--dir" {
		fmt.Fprintln(os.Stderr, "usage: golock --unix PATH --dir DIR")
		os.Exit(2)
	}
	path, dir := os.Args[2], os.Args[4]
	os.Remove(path)
	listener, err := net.Listen("unix", path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	go background(dir)
	fmt.Println("ready")
	for {
		connection, err := listener.Accept()
		if err != nil {
			continue
		}
		go serve(connection, dir)
	}
}

func create(dir, name string) {
	content := fmt.Sprintf("%s pid %d tid %d\n", name, os.Getpid(), syscall.Gettid())
	os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644)
}

func background(dir string) {
	for n := 1; ; n++ {
		lock.Lock()
		create(dir, fmt.Sprintf("background-%d", n))
		lock.Unlock()
		time.Sleep(5 * time.Millisecond)
	}
}

func serve(connection net.Conn, dir string) {
	defer connection.Close()
	reader := bufio.NewReader(connection)
	for {
		line, err := reader.ReadString('\n')
		if err != nil {
			return
		}
		name := strings.TrimPrefix(strings.TrimSpace(line), "REQ ")
		lock.Lock()
		create(dir, name)
		time.Sleep(20 * time.Millisecond)
		lock.Unlock()
		fmt.Fprintf(connection, "OK %s\n", name)
	}
}
