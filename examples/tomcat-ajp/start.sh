#!/usr/bin/env bash
# Starts two Tomcats (Debian's tomcat10, each with its own CATALINA_BASE
# under $RUN_DIR) with jvmRoutes tc1 and tc2 and AJP connectors that
# require $SECRET, then barkeep in front of them. Ctrl-C stops everything.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
BARKEEP=${BARKEEP:-barkeep}
RUN_DIR=${RUN_DIR:-/tmp/barkeep-tomcat-ajp}
CATALINA_HOME=${CATALINA_HOME:-/usr/share/tomcat10}
PORT=${PORT:-8000} ADMIN_PORT=${ADMIN_PORT:-8090}
AJP1_PORT=${AJP1_PORT:-8009} AJP2_PORT=${AJP2_PORT:-8010}
SECRET=${SECRET:-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')}

mkdir -p "$RUN_DIR/webapps/ROOT/WEB-INF/classes"
javac -nowarn -cp "$CATALINA_HOME/lib/servlet-api.jar" -d "$RUN_DIR/webapps/ROOT/WEB-INF/classes" "$here/webapp/Visits.java"
cp "$here/webapp/web.xml" "$RUN_DIR/webapps/ROOT/WEB-INF/web.xml"

trap 'kill $(jobs -p) 2>/dev/null; wait' EXIT
for n in 1 2; do
	base=$RUN_DIR/tc$n
	port=AJP${n}_PORT
	mkdir -p "$base/conf" "$base/logs" "$base/temp" "$base/work"
	for f in web.xml catalina.properties logging.properties context.xml; do
		cp "$CATALINA_HOME/etc/$f" "$base/conf/$f"
	done
	sed -e "s/@ROUTE@/tc$n/" -e "s/@AJP_PORT@/${!port}/" -e "s/@SECRET@/$SECRET/" \
		-e "s#@WEBAPPS@#$RUN_DIR/webapps#" "$here/server.xml" >"$base/conf/server.xml"
	CATALINA_BASE=$base CATALINA_TMPDIR=$base/temp JAVA_OPTS="-Xmx128m" \
		"$CATALINA_HOME/bin/catalina.sh" run >"$base/logs/console.log" 2>&1 &
	echo "tomcat tc$n: AJP on 127.0.0.1:${!port}, log $base/logs/console.log"
done
sed -e "s/@PORT@/$PORT/" -e "s/@ADMIN_PORT@/$ADMIN_PORT/" -e "s/@AJP1_PORT@/$AJP1_PORT/" \
	-e "s/@AJP2_PORT@/$AJP2_PORT/" -e "s/@SECRET@/$SECRET/" "$here/barkeep.yaml" >"$RUN_DIR/barkeep.yaml"
echo "barkeep: http://127.0.0.1:$PORT/ (balancer-manager http://127.0.0.1:$ADMIN_PORT/balancer-manager)"
"$BARKEEP" serve --config "$RUN_DIR/barkeep.yaml"
