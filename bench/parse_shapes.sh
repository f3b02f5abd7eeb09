# The generated Dockerfile shapes of bench/parse.sh (sourced; reads $N, the instruction count).
# SHAPES lists them; gen_SHAPE prints one on stdout.
SHAPES="env arg label stages continuation longline undefined"

# Each generator prints a Dockerfile of $N instructions on stdout.
gen_env() { # 5,000 RUN + 5,000 ENV, some ENV reading earlier ones
    echo 'FROM debian:12-slim'
    for ((i = 1; i < N; i++)); do
        if ((i % 2)); then echo "ENV V$i=value$i P$i=\${V$((i - 2 > 0 ? i - 2 : 1)):-x}/bin"
        else echo "RUN echo $i > /tmp/f$i"; fi
    done
}
gen_arg() { # global ARGs, then ARGs with defaults reading earlier ones
    for ((i = 0; i < N / 4; i++)); do echo "ARG G$i=g$i"; done
    echo 'FROM debian:12-slim'
    for ((i = N / 4 + 1; i < N; i++)); do
        case $((i % 3)) in
            0) echo "ARG A$i=\${A$((i - 3)):+set}-\${G$((i % (N / 4)))}-$i" ;;
            1) echo "ARG G$((i % (N / 4)))" ;;
            *) echo "RUN echo \$A$((i - 2))" ;;
        esac
    done
}
gen_label() { # LABEL-heavy, several pairs per line, some reusing ARG/ENV values
    echo 'FROM debian:12-slim'
    echo 'ARG VERSION=1.0'
    for ((i = 2; i < N; i++)); do
        echo "LABEL org.example.l$i=\"value $i\" org.example.v$i=\${VERSION} k$i=v$i"
    done
}
gen_stages() { # many stages, each copying from the previous ones
    local count=0 s=0
    while ((count < N)); do
        if ((s == 0)); then echo "FROM debian:12-slim AS s0"
        elif ((s % 3)); then echo "FROM s$((s - 1)) AS s$s"
        else echo "FROM debian:12-slim AS s$s"; fi
        count=$((count + 1))
        for ((j = 0; j < 9 && count < N; j++)); do
            case $j in
                0|1) ((s > 0)) && echo "COPY --from=s$((s - 1)) /out/$j /in/$j" || echo "RUN true" ;;
                2) echo "ENV S$s=$s" ;;
                3) echo "ARG B$s=\$S$s" ;;
                4) echo "RUN --mount=type=cache,target=/c$s make -j2 out/$s" ;;
                5) ((s > 2)) && echo "COPY --from=s$((s / 2)) /out /in$s" || echo "WORKDIR /w" ;;
                *) echo "RUN echo $j" ;;
            esac
            count=$((count + 1))
        done
        s=$((s + 1))
    done
}
gen_continuation() { # long continuation lines and heredocs
    echo 'FROM debian:12-slim'
    for ((i = 1; i < N; i++)); do
        case $((i % 4)) in
            0) printf 'RUN <<EOF\nset -e\necho %d\necho two\nEOF\n' "$i" ;;
            1) printf 'RUN apt-get update \\\n'
               for ((k = 0; k < 20; k++)); do printf '    && echo step%d-%d \\\n' "$i" "$k"; done
               printf '    && true\n' ;;
            2) printf 'COPY <<EOF /etc/conf%d\nkey=%d\nEOF\n' "$i" "$i" ;;
            *) printf 'ENV C%d=a \\\n    D%d=b\n' "$i" "$i" ;;
        esac
    done
}

gen_undefined() { # 5,000 ENV defining VAR<i>, 5,000 ENV reading a misspelt VAX<i> (lint's hints)
    echo 'FROM debian:12-slim'
    for ((i = 1; i < N; i++)); do
        if ((i % 2)); then echo "ENV VAR$i=value$i"
        else echo "ENV X$i=\${VAX$i}/bin"; fi
    done
}

gen_longline() { # a few instructions on very long single lines ($N words each)
    echo 'FROM debian:12-slim'
    printf 'LABEL'; for ((i = 0; i < N; i++)); do printf ' k%d=v%d' "$i" "$i"; done; echo
    printf 'RUN true'; for ((i = 0; i < N; i++)); do printf ' && echo %d' "$i"; done; echo
    printf 'ENV'; for ((i = 0; i < N; i++)); do printf ' E%d="v %d"' "$i" "$i"; done; echo
}
