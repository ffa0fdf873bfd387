#!/bin/sh
# A CGI for Apache's mod_cgid: `?name=N` creates $FILES_DIR/N (FILES_DIR is
# set by the server's config) and answers "ok".
name=${QUERY_STRING#name=}
case $name in
'' | *[!A-Za-z0-9-]*)
	printf 'Status: 400 Bad Request\r\nContent-Type: text/plain\r\n\r\nbad name\n'
	exit 0
	;;
esac
echo "$name pid $$" >"$FILES_DIR/$name"
printf 'Content-Type: text/plain\r\n\r\nok\n'
