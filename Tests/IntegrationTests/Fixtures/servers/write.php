<?php
// For php-fpm behind nginx: `?name=N` creates FILES_DIR/N (FILES_DIR is a
// FastCGI parameter set by nginx's config) and answers "ok".
$name = $_GET['name'] ?? '';
if (!preg_match('/^[A-Za-z0-9-]+$/', $name)) {
    http_response_code(400);
    echo "bad name\n";
    exit;
}
file_put_contents($_SERVER['FILES_DIR'] . '/' . $name, $name . ' pid ' . getmypid() . "\n");
echo "ok\n";
