# SPDX-License-Identifier: Apache-2.0
# Draws docs/compare.png from bench/compare/run.sh's results:
#   gnuplot -e "data='build/compare-results'; output='docs/compare.png'" bench/compare/compare.gp
# Left: acquire+release cycles per second, one worker and 32 workers (log scale).
# Right: hand-off wait between two workers on one key, bar at p50, whisker to p99 (log scale).
if (!exists("data")) data = 'build/compare-results'
if (!exists("output")) output = 'docs/compare.png'

set terminal pngcairo size 1500,560 font "Sans,10"
set output output
set multiplot layout 1,3 title "verrou-cpp vs @verrou/core 0.5.2, same servers, same run" font "Sans,13" noenhanced

cpp = "#1f6fb4"; cpp2 = "#7fb2de"; node = "#d9822b"; node2 = "#f0c08a"
set style data histograms
set style fill solid 0.9 border -1
set boxwidth 0.9
set grid ytics mytics
set logscale y 10
set format y "10^{%L}"
set xtics rotate by -30 scale 0 font "Sans,9"
set key top right font "Sans,9"

set title "Uncontended acquire+release, one worker"
set ylabel "cycles / s"
set style histogram clustered gap 1
plot data.'/rates.dat' using 2:xtic(1) title "verrou-cpp" lc rgb cpp, \
     '' using 3 title "@verrou/core" noenhanced lc rgb node

set title "32 parallel workers, distinct keys"
plot data.'/rates.dat' using 4:xtic(1) title "verrou-cpp" lc rgb cpp, \
     '' using 5 title "@verrou/core" noenhanced lc rgb node

set title "Hand-off wait, two workers on one key (bar p50, whisker p99)"
set ylabel "µs from release to the other's acquire"
set style histogram errorbars gap 1 lw 1
set key top left
plot data.'/handoff.dat' using 2:3:4:xtic(1) title "verrou-cpp, 250 ms delay" lc rgb cpp, \
     '' using 5:6:7 title "Verrou, 250 ms delay" lc rgb node, \
     '' using 8:9:10 title "verrou-cpp, 10 ms delay" lc rgb cpp2, \
     '' using 11:12:13 title "Verrou, 10 ms delay" lc rgb node2
unset multiplot
