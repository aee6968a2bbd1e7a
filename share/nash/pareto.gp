# pareto.gp - the plot nash-pareto(1) draws with --plot.
#
# nash-pareto runs   gnuplot -e "fmt='png'; out='...'; ..." pareto.gp
# and sets these variables:
#   fmt    png, svg or pdf (from the plot file's suffix)
#   out    the file to write (a temporary name, renamed when gnuplot is done)
#   dir    a directory of tab-separated data files:
#            fam-F.tsv    x, y of the points of style family F
#            labels.tsv   x, y, label of the points to name
#            front.tsv    x, y of the Pareto front (rank 1) in x order
#   xlab, ylab, ttl   axis labels and title
#   steps  'steps' (x minimised) or 'fsteps' (x maximised): how the front is
#          drawn as a step line; '' when there are more than two objectives
#          (the plot then shows the first two and only rings the front)
#   fams   the style families present, from: baseline v1 v2 v3 v4 other
#
# To restyle: copy this directory, edit the copy, and point NASH_SHARE at it.

if (fmt eq 'png') { set terminal pngcairo size 1000,700 font 'Sans,10' }
if (fmt eq 'svg') { set terminal svg size 1000,700 dynamic font 'Sans,10' background rgb 'white' }
if (fmt eq 'pdf') { set terminal pdfcairo size 10in,7in font 'Sans,10' }
set output out
set datafile separator "\t"
set datafile commentschars ""   # names may hold '#'
set title ttl noenhanced
set xlabel xlab noenhanced
set ylabel ylab noenhanced
set grid lc rgb '#e0e0e0'
set border 3
set tics nomirror
set key outside right top
set offsets graph 0.08, graph 0.08, graph 0.08, graph 0.08

# One point style and colour per family.
ptype(f) = f eq 'baseline' ? 7 : f eq 'v1' ? 5 : f eq 'v2' ? 9 : f eq 'v3' ? 11 : f eq 'v4' ? 13 : 3
pcolour(f) = f eq 'baseline' ? '#333333' : f eq 'v1' ? '#1f77b4' : f eq 'v2' ? '#2ca02c' : \
             f eq 'v3' ? '#9467bd' : f eq 'v4' ? '#ff7f0e' : '#8c564b'
front_colour = '#d62728'

fam(f) = dir.'/fam-'.f.'.tsv'
front = dir.'/front.tsv'
labels = dir.'/labels.tsv'

if (steps ne '') {
plot for [f in fams] fam(f) using 1:2 with points pt ptype(f) ps 1.4 lc rgb pcolour(f) title f, \
     front using 1:2 with @steps lw 2 lc rgb front_colour title 'Pareto front', \
     front using 1:2 with points pt 6 ps 2.6 lw 1.5 lc rgb front_colour notitle, \
     labels using 1:2:3 with labels left offset char 0.9,0.6 font ',8' noenhanced notitle
} else {
plot for [f in fams] fam(f) using 1:2 with points pt ptype(f) ps 1.4 lc rgb pcolour(f) title f, \
     front using 1:2 with points pt 6 ps 2.6 lw 1.5 lc rgb front_colour title 'front (all objectives)', \
     labels using 1:2:3 with labels left offset char 0.9,0.6 font ',8' noenhanced notitle
}
